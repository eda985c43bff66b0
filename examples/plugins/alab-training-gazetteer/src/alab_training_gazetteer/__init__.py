"""A third-party trainer: a gazetteer that memorises each labelled phrase and tags its exact matches."""

import json
import re

from alab_training import hookimpl
from alab_training.events import EpochFinished, Evaluated, TrainingFinished, TrainingStarted
from alab_training.results import TrainedModel


class GazetteerTrainer:
    training_type = "gazetteer"

    def train(self, request):
        entity_labels = set(request.project.config.ner_labels)
        train, test = request.selection.train, request.selection.test
        yield TrainingStarted(self.training_type, len(train), len(test), epochs=1)
        phrases = {s.text.lower(): label for _, c in train for s in c.spans for label in s.labels
                   if label in entity_labels}
        yield EpochFinished(1, 1)
        found = gold = hits = 0
        for task, completion in test:
            truth = {(s.start, s.end, label) for s in completion.spans for label in s.labels if label in entity_labels}
            guess = {(m.start(), m.end(), label) for phrase, label in phrases.items()
                     for m in re.finditer(r"\b" + re.escape(phrase) + r"\b", task.text.lower())}
            found, gold, hits = found + len(guess), gold + len(truth), hits + len(truth & guess)
        precision, recall = hits / found if found else 0.0, hits / gold if gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
        metrics = {"micro": {"precision": precision, "recall": recall, "f1": f1, "support": gold}}
        yield Evaluated(metrics)
        path = request.output_dir / "gazetteer.json"
        path.write_text(json.dumps(phrases, indent=1, sort_keys=True))
        yield TrainingFinished(TrainedModel(name=f"gazetteer_{request.project.name}", kind=self.training_type,
                                            path=path, metrics=metrics, labels=tuple(sorted(set(phrases.values())))))


@hookimpl
def register_trainers(register):
    register(GazetteerTrainer())
