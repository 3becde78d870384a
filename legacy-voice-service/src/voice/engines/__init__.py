"""Speech engines behind one small interface per capability, loaded and queued by `loading`, chosen by `registry`."""
