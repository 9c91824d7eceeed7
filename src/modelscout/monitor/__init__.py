"""After the choice (issue #15): the chosen model's inputs watched for drift, in its own
feature space (``modelscout monitor``). ``verdict.py`` holds the documented thresholds."""
