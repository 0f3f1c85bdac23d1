"""The older protocols: thin adapters over the manager's core, one module each.

- ``farm_json``: ``POST /farm`` and ``POST /potential``
- ``sheepit``: the SheepIt-style XML API under ``/sheepit``
- ``rest2015``: the 2015 manager REST API, ``/tasks`` and ``/workers`` (Flamenco manager, 2015)
- ``cluster_puller``: ``python -m manager --upstream URL --cluster NAME``
"""
