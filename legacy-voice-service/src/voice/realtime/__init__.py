"""Turn taking on a live audio stream: where speech starts and pauses, and whether a pause ends the turn. Plain
state and rules, no sockets or threads: the realtime route feeds them and acts on what they decide."""
