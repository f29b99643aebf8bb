"""Operations intelligence: history, arrival forecasts, staffing, rosters, seat quality, occupancy.

Plain libraries with no bus: the core stores history and plans in ``hall.db``
(:mod:`edge.core.ops`), and the ``hall history``/``forecast``/``staffing``
commands, the ``ops`` service, the panel and the daily report call these.

- :mod:`edge.ops.history`: the CSV a hall brings from its old system (parse, check, export).
- :mod:`edge.ops.days`: which days are working days, weekends, holidays and swapped working days (调休).
- :mod:`edge.ops.forecast`: arrivals per business per slot (statsmodels' Poisson GLM).
- :mod:`edge.ops.staffing`: counters per slot by Erlang C (pyworkforce), respecting counter skills.
- :mod:`edge.ops.roster`: a weekly roster suggestion (OR-tools CP-SAT).
- :mod:`edge.ops.seats`: seat quality and points per staff member and per counter.
- :mod:`edge.ops.occupancy`: people in the hall from beams, cameras and the queue, with an uncertainty.

The heavy libraries (statsmodels, pyworkforce, OR-tools) are imported inside the
functions that use them, never at import time.
"""
