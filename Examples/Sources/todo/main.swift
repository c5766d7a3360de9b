// The todo CLI: see issue 6. (Being written.)
print("todo: not yet implemented")
