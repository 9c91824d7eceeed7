"""The command line: one module per command (``rank``, ``profile``, ``report``, ``compare``,
``schema``, ``init``, ``demo``), the options they share in ``options``, what they print in
``output``, how they end in ``exit_codes``; ``app`` puts them together."""

from modelscout.cli.app import app

__all__ = ["app"]
