"""The ``bcml`` command line. ``main(argv)`` returns an exit code; tests call it directly.

One module per command (``train``, ``compare``, ``rollback``, ``ui``, ``serve``, ``deploy``,
``predict``, ``audit``), each with ``add_parser(sub)`` and ``handle(args) -> int``;
:mod:`.flags` makes their flags from the typed settings, :mod:`.parser` assembles them,
and :mod:`.process` holds the process policy (garbage collector, exit codes). Heavy libraries
(mlflow, scikit-learn, pyarrow) are imported only inside the command that needs them, so
``bcml --help`` answers at once.
"""

from breast_cancer_ml.cli.parser import build_parser
from breast_cancer_ml.cli.process import PAUSE_CYCLIC_GC, SIGNAL_EXITS, main, run

__all__ = ["PAUSE_CYCLIC_GC", "SIGNAL_EXITS", "build_parser", "main", "run"]
