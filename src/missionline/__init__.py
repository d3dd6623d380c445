"""missionline: align Marketing and Sales to the business mission, and measure the alignment."""

from missionline.errors import MissionlineError
from missionline.workspace import Workspace, open

__version__ = "0.1.0"
__all__ = ["MissionlineError", "Workspace", "__version__", "open"]
