"""KIP store implementations behind `KipStore`."""
