"""The seed protocols: thin adapters over the manager's core, one module each.

- ``farm_json``: ``POST /farm`` and ``POST /potential`` (``seeds/farm-potential.txt``)
- ``sheepit``: the SheepIt-style XML API under ``/sheepit`` (``seeds/sheepit-v*.txt``)
- ``rest2015``: the 2015 manager REST API, ``/tasks`` and ``/workers`` (``seeds/rest2015.txt``)
- ``cluster_puller``: ``python -m manager --upstream URL --cluster NAME``
"""
