// sync-torture: see issue 8. (Being written.)
print("sync-torture: not yet implemented")
