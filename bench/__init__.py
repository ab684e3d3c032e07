"""partway's benchmark: ceilings, partway itself and its peers, measured side by side in one run."""
