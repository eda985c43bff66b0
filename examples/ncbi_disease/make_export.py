"""Build export.json, an Annotation Lab export of NCBI-disease (train + devel), from its IOB files.

    python examples/ncbi_disease/make_export.py ../shared/data/ncbi_disease

Train sentences become tasks of 10 sentences; devel sentences become tasks tagged "test", so
`TrainingParams(test_tags=("test",))` trains on train and scores on devel.
"""

import json
import sys
from pathlib import Path

from alab_training.exports.iob import iob_to_tasks, read_iob

source = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/ncbi_disease")
train = iob_to_tasks(read_iob(source / "train.tsv"), annotator="ncbi")
devel = iob_to_tasks(read_iob(source / "devel.tsv"), first_id=len(train) + 1, tags=("test",), annotator="ncbi")
target = Path(__file__).with_name("export.json")
target.write_text(json.dumps(train + devel, ensure_ascii=False))
print(f"wrote {target}: {len(train)} train tasks, {len(devel)} test tasks")
