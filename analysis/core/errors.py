"""Errors a user can act on: each carries one sentence saying what is wrong and how to fix it."""


class UserError(Exception):
    """A problem with the user's input or set-up (not a bug): the message is shown as it is."""


class InstrumentError(UserError):
    """A malformed instrument file."""


class ParamsError(UserError):
    """A malformed params.yaml (or study profile)."""


class ModelSpecError(UserError):
    """A model spec string that names no known kind of target."""


class TargetUnavailable(UserError):
    """The model server cannot be reached, or the model is not there."""


class LogprobsUnsupported(UserError):
    """The target cannot return token log-probabilities."""


class EmptyReply(RuntimeError):
    """The model returned an empty reply (never cached)."""


class StatsError(UserError):
    """Input that a statistic cannot be computed from."""


class StoreError(UserError):
    """The response store cannot be opened or written (a folder, not SQLite, another program's table, read-only)."""


class ModelCacheError(UserError):
    """PSY_MODEL_CACHE (where the joined GGUF files live) cannot be used."""


class ContextOverflow(UserError):
    """A prompt longer than the model's context window."""


class ServerError(TargetUnavailable):
    """A server kept failing (HTTP 5xx, dropped connections, timeouts) after every retry, or refused a request."""


class ModelIdentityError(UserError):
    """The weights behind a served model name cannot be established, or differ between its URLs."""


class BatchError(UserError):
    """Batch mode cannot go on: a provider's result file that does not match what was submitted, a request that
    waits in a batch, a Batch API that is not there."""
