"""The real-time sessions behind the voice service's sockets: listening (`transcription`: audio in, turns and
transcripts out) and speaking (`speech`: text in as it is written, audio out). Each owns its socket's protocol and
the engines' work; the turn-taking rules they apply are plain state in `voice.realtime`, and the routes in
`voice.api.realtime` only admit a socket and hand it to a session."""
