"""The run report: its model (:mod:`.model`), its building (:mod:`.build`) and its rendering (:mod:`.render`).

Per step and per shop, in the format sellers know from the original system. The same numbers are
printed in the terminal, kept as the run record's counts, and stored as Prefect artifacts.
"""

from ecauto_lib.report.build import conclude, summarise
from ecauto_lib.report.model import AccountSummary, ChangeRow, Failure, FetchSummary, RunReport
from ecauto_lib.report.render import STATUS_TEXT, render_markdown, render_terminal

__all__ = [
    "STATUS_TEXT",
    "AccountSummary",
    "ChangeRow",
    "Failure",
    "FetchSummary",
    "RunReport",
    "conclude",
    "render_markdown",
    "render_terminal",
    "summarise",
]
