"""Bounded YAML: what sliceflow reads from files a user, a colleague or a damaged disk controls.

PyYAML's safe loader builds whatever a file describes: an alias "billion laughs" of a few hundred
bytes expands to 10^9 values, a few thousand nested brackets exhaust Python's recursion, an
integer of 5,000 digits hits Python's limit on int conversion, and a repeated key silently keeps
its last value. Here one pass composes the file's nodes with a depth bound, walks them with
aliases expanded (counting values, refusing cycles, long integers and repeated keys, recording
each key path's line), and only then builds the Python data from the same nodes.

Every refusal is a :class:`YAMLInputError`, a ``yaml.MarkedYAMLError`` (``problem``,
``problem_mark``), so a caller that already catches ``yaml.YAMLError`` handles it unchanged. This
module imports nothing of sliceflow: the scenario loader and the run-folder readers both use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 1 << 20  # a scenario, a run's scenario.yaml or a sweep.yaml is a few kilobytes
MAX_DEPTH = 64  # nesting of mappings and lists (aliases and merges expanded)
MAX_NODES = 200_000  # values once aliases are expanded (a list of 100,000 snapshot steps fits)
MAX_INT_DIGITS = 40  # characters of an integer literal (2**64 has 20 digits)

_INT_TAG = "tag:yaml.org,2002:int"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class YAMLInputError(yaml.MarkedYAMLError):
    """YAML refused before it is built: ``problem`` (one line with its fix), ``problem_mark``
    (where, or None) and ``path`` (the key path, e.g. ``("methods", 0, "lr")``, or ``()``)."""

    def __init__(self, problem: str, mark=None, path: tuple = ()) -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.path = tuple(path)

    @property
    def line(self) -> int | None:
        """The 1-based line of the problem, if known."""
        return self.problem_mark.line + 1 if self.problem_mark is not None else None


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader with a depth bound while composing (the composer recurses per level),
    and the construction of a value that Python refuses (a month 13) as a YAML error."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        if self._depth >= MAX_DEPTH:
            raise _too_deep(self.peek_event().start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as error:
            raise YAMLInputError(
                f"cannot read the value {_shown(node.value)} ({error}); fix it or quote it",
                node.start_mark,
            ) from None


def load_yaml(text: str) -> tuple[Any, dict[tuple, int]]:
    """Parse YAML text within the bounds; the data and the 1-based line of every key path.

    Parameters
    ----------
    text : str
        The document (one document; empty gives None).

    Returns
    -------
    data : Any
        What ``yaml.safe_load`` gives for a document within the bounds.
    lines : dict of tuple to int
        Key path (``("methods", 0, "lr")``; ``()`` for the document) -> line.

    Raises
    ------
    YAMLInputError
        Larger than ``MAX_BYTES``, nested deeper than ``MAX_DEPTH``, more than ``MAX_NODES``
        values with aliases expanded, a recursive alias, an integer of more than
        ``MAX_INT_DIGITS`` characters, a key given twice, a value Python cannot build.
    yaml.YAMLError
        A syntax error (``problem_mark`` says where).
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise YAMLInputError(
            f"{size} bytes, more than the {MAX_BYTES} a YAML file of sliceflow may hold; give "
            "a small text file (data belong in .npy or .csv files)"
        )
    loader = _BoundedLoader(text)
    try:
        root = loader.get_single_node()
        lines: dict[tuple, int] = {}
        if root is not None:
            _Walk(loader, lines).node(root, (), 1)
        return loader.construct_document(root) if root is not None else None, lines
    finally:
        loader.dispose()


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` within the bounds of :func:`load_yaml` (its data only)."""
    return load_yaml(text)[0]


def read_yaml_text(path: str | Path) -> str:
    """The text of a YAML file, reading at most ``MAX_BYTES`` (+1) bytes of it.

    Raises
    ------
    YAMLInputError
        Not a regular file (a folder, a device such as ``/dev/zero``), or too large.
    UnicodeDecodeError, OSError
        Not UTF-8 text; unreadable.
    """
    path = Path(path)
    if not path.is_file():
        raise YAMLInputError(f"{path} is not a regular file; give a YAML text file")
    with path.open("rb") as stream:
        data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise YAMLInputError(
            f"larger than {MAX_BYTES} bytes, more than a YAML file of sliceflow may hold; give "
            "a small text file (data belong in .npy or .csv files)"
        )
    return data.decode("utf-8")


def read_yaml(path: str | Path) -> Any:
    """The data of a YAML file within the bounds (:func:`read_yaml_text`, :func:`safe_load`)."""
    return safe_load(read_yaml_text(path))


class _Walk:
    """One walk over the composed nodes, aliases expanded: bounds, repeated keys, line map."""

    def __init__(self, loader: _BoundedLoader, lines: dict[tuple, int]) -> None:
        self.loader, self.lines, self.count = loader, lines, 0
        self.open: set[int] = set()  # ids of the collections being walked (a cycle revisits one)

    def node(self, node, path: tuple, depth: int) -> None:
        self.count += 1
        if self.count > MAX_NODES:
            raise YAMLInputError(
                f"more than {MAX_NODES} values once its aliases (*name) are expanded; write "
                "the document out without aliases nested in aliases",
                node.start_mark,
            )
        if depth > MAX_DEPTH:
            raise _too_deep(node.start_mark)
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode):
            _check_scalar(node)
            return
        if id(node) in self.open:
            raise YAMLInputError(
                "an alias (*name) refers to a value that contains it; remove the recursive alias",
                node.start_mark,
            )
        self.open.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            for index, child in enumerate(node.value):
                self.node(child, (*path, index), depth + 1)
        else:
            self.mapping(node, path, depth)
        self.open.discard(id(node))

    def mapping(self, node: yaml.MappingNode, path: tuple, depth: int) -> None:
        own = [(k, v) for k, v in node.value if k.tag != _MERGE_TAG]
        for _, merged in [(k, v) for k, v in node.value if k.tag == _MERGE_TAG]:
            # ``<<: *defaults`` (or a list of them): the merged keys first, own keys win
            for part in merged.value if isinstance(merged, yaml.SequenceNode) else [merged]:
                self.merged(part, path, depth + 1)
        self.lines[path] = node.start_mark.line + 1
        seen: dict[Any, int] = {}
        for key_node, child in own:
            key = self.key(key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise YAMLInputError(
                    f"key {key!r} is given twice (lines {seen[key]} and {line}); keep one",
                    key_node.start_mark,
                    (*path, key),
                )
            seen[key] = line
            self.node(child, (*path, key), depth + 1)
            self.lines[(*path, key)] = line

    def merged(self, node, path: tuple, depth: int) -> None:
        if not isinstance(node, yaml.MappingNode):
            return  # the constructor refuses a merge of something else, with its line
        if depth > MAX_DEPTH:
            raise _too_deep(node.start_mark)
        if id(node) in self.open:
            raise YAMLInputError(
                "a merge (<<: *name) refers to the mapping that contains it; remove it",
                node.start_mark,
            )
        self.count += 1
        self.open.add(id(node))
        self.mapping(node, path, depth)
        self.open.discard(id(node))

    def key(self, node) -> Any:
        """The built key of a mapping entry (``lr`` and ``"lr"`` are the same key)."""
        if not isinstance(node, yaml.ScalarNode):
            raise YAMLInputError(
                "a key must be a plain name or number, not a list or a mapping", node.start_mark
            )
        _check_scalar(node)
        return self.loader.construct_object(node)


def _check_scalar(node: yaml.ScalarNode) -> None:
    if node.tag == _INT_TAG and len(node.value) > MAX_INT_DIGITS:
        raise YAMLInputError(
            f"an integer of {len(node.value)} characters, more than the {MAX_INT_DIGITS} "
            "sliceflow reads; give a smaller number",
            node.start_mark,
        )


def _too_deep(mark) -> YAMLInputError:
    return YAMLInputError(
        f"nested deeper than {MAX_DEPTH} levels of mappings and lists; flatten the document",
        mark,
    )


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_INT_DIGITS",
    "MAX_NODES",
    "YAMLInputError",
    "load_yaml",
    "read_yaml",
    "read_yaml_text",
    "safe_load",
]
