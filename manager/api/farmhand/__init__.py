"""Farmhand's own API, ``/api/farmhand/...``: the controls Flamenco's API has no word for
(requeue missing frames, job types for artists), stored files, and job outputs."""
