"""Real exports load faithfully."""

from __future__ import annotations

import pytest

from alab_training import AlabTrainingError, CompletionStatus, load_project, select_completions
from tests.conftest import ALAB_DEMO, ALAB_DEMO_CONFIG, LABEL_STUDIO

NER_LS = LABEL_STUDIO / "ner_assertion_config.xml"
CLASSIFICATION_LS = LABEL_STUDIO / "classification_config.xml"


def test_annotation_lab_demo():
    project = load_project(ALAB_DEMO, config=ALAB_DEMO_CONFIG, name="demo")
    assert [t.id for t in project.tasks] == [2, 3, 1]  # file order is kept
    assert sum(len(t.completions) for t in project.tasks) == 14
    assert project.warnings == ()
    assert project.export_format == "annotation_lab"
    task1 = next(t for t in project.tasks if t.id == 1)
    statuses = {c.id: c.status for c in task1.completions}
    assert statuses[1002] is CompletionStatus.DRAFT  # no submitted_at: saved, never submitted
    assert statuses[1004] is CompletionStatus.SUBMITTED
    assert task1.title == "Note 1"
    starred = {c.id for t in project.tasks for c in t.completions if c.starred}
    assert starred == {1003, 1004, 2004, 2005, 3004, 3005}


def test_annotation_lab_demo_results():
    project = load_project(ALAB_DEMO, config=ALAB_DEMO_CONFIG)
    task2 = project.tasks[0]
    latest = next(c for c in task2.completions if c.id == 2005)
    fever = [s for s in latest.spans if s.text == "fever"]
    # An assertion is a second labels item on the same offsets.
    assert sorted(label for s in fever for label in s.labels) == ["ABSENT", "PROBLEM"]
    assert all(task2.text[s.start:s.end] == s.text for s in latest.spans)
    assert latest.choices[0].from_name == "sentiment" and latest.choices[0].choices == ("Female",)
    assert latest.relations and all(r.labels for r in latest.relations)


def test_demo_selection_takes_the_latest_submitted():
    selection = select_completions(load_project(ALAB_DEMO, config=ALAB_DEMO_CONFIG))
    assert [(t.id, c.id) for t, c in selection] == [(2, 2005), (3, 3005), (1, 1004)]


LS_EXPORTS = sorted(
    p for p in LABEL_STUDIO.iterdir()
    if p.suffix in (".json", ".csv", ".tsv") and not p.name.endswith(("_api_project.json", "_api_predictions.json",
                                                                      "_snapshot_meta.json"))
)


@pytest.mark.parametrize("path", LS_EXPORTS, ids=lambda p: p.name)
def test_every_label_studio_export_loads(path):
    config = NER_LS if path.name.startswith("ner") else CLASSIFICATION_LS
    project = load_project(path, config=config)
    assert project.tasks
    assert project.warnings == ()
    selection = select_completions(project)
    for _, completion in selection:
        assert completion.status is CompletionStatus.SUBMITTED


@pytest.mark.parametrize("path", [p for p in LS_EXPORTS if p.name.startswith("ner") and p.suffix == ".json"
                                  and "_min" not in p.name], ids=lambda p: p.name)
def test_label_studio_drafts_and_skips_are_never_selected(path):
    project = load_project(path, config=NER_LS)
    selection = select_completions(project)
    chosen = {t.id: c for t, c in selection}
    by_title = {t.title.split()[0]: t for t in project.tasks}
    assert by_title["T06"].id not in chosen  # only skipped
    if "T08" in by_title:
        assert by_title["T08"].id not in chosen  # draft only
    reasons = {t.title.split()[0]: r.code for t, r in selection.excluded}
    assert reasons["T06"] == "only_skipped"
    assert reasons.get("T08", "only_drafts") == "only_drafts"
    assert chosen[by_title["T07"].id].annotator != "3"  # bob skipped T07; admin's real annotation wins
    assert chosen[by_title["T11"].id].spans == ()  # an empty result is a valid example


def test_label_studio_details():
    project = load_project(LABEL_STUDIO / "ner_assertion_export.json", config=NER_LS)
    by_title = {t.title.split()[0]: t for t in project.tasks}
    t04 = by_title["T04"]
    assert all(t04.text[s.start:s.end] == s.text for c in t04.completions for s in c.spans)  # code points
    (t10,) = by_title["T10"].completions
    assert t10.spans[0].labels == ("PROBLEM", "Absent")  # one region, two labels
    assert by_title["T03"].completions[0].starred  # ground_truth
    assert by_title["T01"].tags == ()
    assert by_title["T01"].completions[1].annotator == "2"  # completed_by user id


def test_label_studio_snapshot_annotator_is_the_email():
    project = load_project(LABEL_STUDIO / "ner_assertion_snapshot_full.json", config=NER_LS)
    annotators = {c.annotator for t in project.tasks for c in t.completions}
    assert "alice.annotator@example.com" in annotators
    assert sum(len(t.drafts) for t in project.tasks) == 2


def test_json_min_and_csv_agree_with_json():
    def chosen(path):
        selection = select_completions(load_project(path, config=NER_LS))
        return {str(t.id): sorted((s.start, s.end, s.labels) for s in c.spans) for t, c in selection}

    full = chosen(LABEL_STUDIO / "ner_assertion_export.json")
    assert chosen(LABEL_STUDIO / "ner_assertion_export_min.json") == full
    assert chosen(LABEL_STUDIO / "ner_assertion_export.csv") == full
    assert chosen(LABEL_STUDIO / "ner_assertion_export.tsv") == full


@pytest.mark.parametrize("name", ["ner_assertion_api_project.json", "ner_assertion_api_predictions.json",
                                  "ner_assertion_snapshot_meta.json"])
def test_files_that_are_not_task_exports_say_so(name):
    with pytest.raises(AlabTrainingError, match="not tasks|not a task|metadata"):
        load_project(LABEL_STUDIO / name, config=NER_LS)
