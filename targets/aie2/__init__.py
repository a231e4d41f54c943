"""The AIE2 target: hardware model, subvolume and split choice, memtile allocation."""
