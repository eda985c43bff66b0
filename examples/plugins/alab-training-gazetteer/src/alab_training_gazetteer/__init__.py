"""A third-party trainer: a gazetteer that memorises each labelled phrase and tags its exact matches."""

import json
import re

import attrs

from alab_training import (
    EpochFinished,
    Evaluated,
    ParamsError,
    TrainedModel,
    Trainer,
    TrainingFinished,
    TrainingStarted,
    hookimpl,
)


def _at_least_one(instance, attribute, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParamsError(f"expected a whole number of at least 1, got {value!r}", field=attribute.name, value=value)


@attrs.frozen
class GazetteerOptions:
    """``TrainingParams(options={"gazetteer": {"min_count": 2}})``: keep phrases labelled at least this often."""

    min_count: int = attrs.field(default=1, validator=_at_least_one)


class GazetteerTrainer(Trainer):
    training_type = "gazetteer"
    options_type = GazetteerOptions

    def train(self, request):
        options = request.options or GazetteerOptions()
        entity_labels = set(request.project.config.ner_labels)
        train, test = request.selection.train, request.selection.test
        yield TrainingStarted(self.training_type, len(train), len(test), epochs=1)
        counts = {}
        for _, completion in train:
            for span in completion.spans:
                for label in span.labels:
                    if label in entity_labels:
                        key = (span.text.lower(), label)
                        counts[key] = counts.get(key, 0) + 1
        phrases = {phrase: label for (phrase, label), n in counts.items() if n >= options.min_count}
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
        (request.output_dir / "gazetteer.json").write_text(json.dumps(phrases, indent=1, sort_keys=True))
        yield TrainingFinished(TrainedModel(name=request.model_name,
                                            kind=self.training_type, path=request.output_dir, metrics=metrics,
                                            labels=tuple(sorted(set(phrases.values())))))


@hookimpl
def register_trainers(register):
    register(GazetteerTrainer())
