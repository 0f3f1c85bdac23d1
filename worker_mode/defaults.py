"""Tunable constants of the worker, each with the reason for its value."""

from __future__ import annotations

SUPPORTED_TASK_TYPES = ("blender", "ffmpeg", "file-management", "misc")
"""Task types this worker can run; sent at registration and sign-on."""

IDLE_POLL_FIRST_S = 1.0
"""First wait after the manager had no task for us."""

IDLE_POLL_MAX_S = 10.0
"""Longest wait between two task requests while idle; a new job waits at most this long."""

IDLE_POLL_FACTOR = 1.5
"""How much longer each successive idle wait is."""

POLL_JITTER = 0.2
"""Relative random spread of each wait, so many workers do not poll in lockstep."""

RETRY_FIRST_S = 1.0
"""First wait after the manager could not be reached."""

RETRY_MAX_S = 30.0
"""Longest wait between two attempts to reach a manager that is down."""

ASLEEP_POLL_S = 3.0
"""How often an asleep worker asks for a state change."""

UPDATE_INTERVAL_S = 1.0
"""How often progress and log lines of a running task are sent (when there is news)."""

HEARTBEAT_INTERVAL_S = 10.0
"""A running task is reported at least this often, even without news (the manager's lease)."""

MAY_I_RUN_INTERVAL_S = 3.0
"""How often the worker asks whether it may keep running its task; bounds cancel latency."""

LOG_CHUNK_MAX_CHARS = 64_000
"""Largest log chunk in one task update."""

LOG_BUFFER_MAX_CHARS = 4_000_000
"""Most log text kept while the manager is unreachable; older text is dropped with a notice."""

LOG_TAIL_LINES = 30
"""Lines of the render log quoted in the activity/log of a failed task."""

PREVIEW_MIN_INTERVAL_S = 1.0
"""Shortest time between two preview images; the manager answers 429 to a flood."""

PREVIEW_MAX_SIZE = 320
"""Longest side, in pixels, of the JPEG preview sent for a finished frame."""

BLACK_CHECK_SIZE = 64
"""Longest side of the box-filtered copy of a frame that the black-frame check reads: each of
its pixels averages about a 60x60 block of a 4K frame, small enough to see a lit object."""

BLACK_LEVEL = 2 / 255
"""Brightest display value (0..1) a frame may have and still count as black: Blender dithers
8-bit frames, so a black render holds values of 1/255."""

RENDER_CHILD_START_TIMEOUT_S = 120.0
"""How long the render process may take to start (bpy import, GPU detection)."""

KILL_WAIT_S = 5.0
"""How long to wait for a killed render process to be gone."""

HTTP_CONNECT_TIMEOUT_S = 5.0
"""Connection timeout to the manager."""

HTTP_READ_TIMEOUT_S = 30.0
"""Read timeout of one request to the manager."""

CREDENTIALS_FILE = "credentials.json"
"""File in the data dir with this worker's id and secret, per manager URL (mode 0600)."""
