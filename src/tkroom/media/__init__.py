"""The media plane: tkroom drives Janus VideoRoom servers and brokers SDP; media never passes
through Python."""
