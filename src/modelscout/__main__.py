"""``python -m modelscout``: the same as the ``modelscout`` command."""

from modelscout.cli import app

app(prog_name="modelscout")
