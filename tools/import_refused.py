"""What `modelfleet import` (tools/import_model.py) refuses a source with, and the JSON reader
every part of it shares, which refuses a file that is not JSON.
"""
import json, os

SUPPORTED = "BERT sequence classifiers (model_type 'bert', BertForSequenceClassification)"


class Refused(Exception):
    """The source cannot be imported; the message says why and what to do."""


def read_json(path):
    with open(path) as f:
        try:
            return json.load(f)
        except ValueError as error:
            raise Refused(f"{os.path.basename(path)} is not JSON: {error}")
