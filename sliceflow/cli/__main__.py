"""``python -m sliceflow.cli``: the same as the ``sliceflow`` command."""

from sliceflow.cli import main

main()
