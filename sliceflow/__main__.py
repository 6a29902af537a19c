"""``python -m sliceflow``: the same as the ``sliceflow`` command."""

from sliceflow.cli import main

main()
