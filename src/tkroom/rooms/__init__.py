"""The room rules as a core without I/O: pure data, pure checks, pure state transitions.

Nothing here touches a socket, Redis or a clock: time comes in as an argument. The signalling
server (``tkroom.signal``) glues these rules to a ``tkroom.state.RoomState`` backend.
"""
