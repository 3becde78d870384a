"""Live client sessions over WebSockets: a chat session (`/ws/chat`) and a voice session (`/ws/voice`), each with
its typed client messages. The routes in `council.api` accept the socket and hand it to a session."""
