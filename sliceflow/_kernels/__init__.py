"""Private speed devices of the maths: row sorts and argsorts, oneDNN products, seed threads,
workspaces and chunked evaluation of large clouds, and the size policy that chooses between
them. Only ``sliceflow.ot`` imports this package; nothing here is public API."""
