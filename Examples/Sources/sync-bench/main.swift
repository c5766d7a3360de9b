// sync-bench: see issue 7. (Being written.)
print("sync-bench: not yet implemented")
