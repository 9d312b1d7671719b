"""Live chat: the embeddable widget's endpoints, its websocket, and the agents' chat inbox."""
