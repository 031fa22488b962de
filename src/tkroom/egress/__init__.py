"""The egress plane: what leaves a class for people who were not in it (docs/recordings.md).

While a class is recorded, ``eventlog.EventLog`` writes its event log; after it, the
compositor (``compose``, run by ``jobs.JobPool`` in worker processes) makes the merged MP4, the
per-user MP4s and the audio-only file that ``getrecordlist`` lists. ``board.BoardRenderer``
draws the board's stills for the compositor and the live stream.
"""
