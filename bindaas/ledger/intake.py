"""Single submissions checked a group at a time.

`POST /records` carries one envelope. Checked on a request thread of its own, each one paid a thread-pool hop, an
identity read for its new owner (shared at best with the reads already waiting) and a hand-off to the writer that
its thread then sat waiting on. Here submissions queue for one thread per process, which takes whatever has queued
meanwhile and checks it as the streaming import checks a group (``prepare_many``: the group's new owners read in one
call), then hands the rows to the writer's group commit without waiting, so that the next group's checks overlap
this one's commit. Each submitter still hears back only once its own record is committed. There is no timer:
alone, a submission is a group of one.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future

from bindaas.chain.access import AccessChain
from bindaas.chain.client import ChainClient
from bindaas.config import Settings
from bindaas.errors import BindaasError
from bindaas.ledger.accept import Accepted, prepare_many
from bindaas.ledger.envelope import Envelope
from bindaas.store.group_commit import RecordWriter, Stored
from bindaas.store.models import NewRecord
from bindaas.threads import GroupingThread

EnvelopeOf = Callable[[], Envelope]  # parses and vets one submission on the intake thread, raising its problem


class GroupedIntake(GroupingThread[EnvelopeOf, Accepted]):
    """Checks queued single submissions a group at a time and stores them through ``writer``."""

    def __init__(self, *, chain: ChainClient, access: AccessChain, settings: Settings, service_public_key: bytes,
                 writer: RecordWriter, most: int = 64) -> None:
        super().__init__("intake", most=most)
        self.chain, self.access, self.settings = chain, access, settings
        self.service_public_key = service_public_key
        self.writer = writer

    def submit(self, envelope_of: EnvelopeOf) -> Future[Accepted]:
        """Queue one submission. ``envelope_of`` runs on the intake thread: the envelope it returns is checked
        completely and stored; a problem it raises is the submission's answer. The future gives the ``Accepted``
        once the record is committed, or the problem that refused it."""
        return self._hand(envelope_of)

    def _work(self, group: list[tuple[EnvelopeOf, Future[Accepted]]]) -> None:
        envelopes, waiting = [], []
        for envelope_of, done in group:
            try:
                envelopes.append(envelope_of())
            except Exception as exc:  # noqa: BLE001 - its own problem (unreadable body, a role that may not submit)
                done.set_exception(exc)
                continue
            waiting.append(done)
        try:
            prepared: list[NewRecord | Exception] = list(self._prepare(envelopes))
        except Exception:  # noqa: BLE001 - not one envelope's problem (those come back as items): each alone, so
            prepared = []  # that only a submission that breaks the checks hears of it
            for envelope in envelopes:
                try:
                    prepared.extend(self._prepare([envelope]))
                except Exception as exc:  # noqa: BLE001
                    prepared.append(exc)
        for item, done in zip(prepared, waiting):
            if isinstance(item, NewRecord):
                self.writer.submit(item).add_done_callback(lambda stored, done=done: _settle(done, stored))
            else:
                done.set_exception(item)

    def _prepare(self, envelopes: list[Envelope]) -> list[NewRecord | BindaasError]:
        return prepare_many(envelopes, chain=self.chain, access=self.access, settings=self.settings,
                            service_public_key=self.service_public_key)


def _settle(done: Future[Accepted], stored: Future[Stored]) -> None:
    error = stored.exception()
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(Accepted(*stored.result()))
