"""Intake's unit of work: the shared one, with intake's repositories."""

from typing import Self

from helpline_intake.adapters.directory_repository import DirectoryRepository
from helpline_intake.adapters.domain_repository import DomainRepository
from helpline_intake.adapters.mail_repository import MailRepository
from helpline_intake.adapters.people_repository import PeopleRepository
from helpline_intake.adapters.repository import TicketRepository
from helpline_shared.runtime.uow import SqlUnitOfWork


class IntakeUnitOfWork(SqlUnitOfWork):
    """One transaction over tickets, messages, mail, directory, domains, people, outbox, inbox."""

    tickets: TicketRepository
    mail: MailRepository
    directory: DirectoryRepository
    domains: DomainRepository
    people: PeopleRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.tickets = TicketRepository(self.session)
        self.mail = MailRepository(self.session)
        self.directory = DirectoryRepository(self.session)
        self.domains = DomainRepository(self.session)
        self.people = PeopleRepository(self.session)
        self.writes_behind(self.mail, self.tickets)
        return self
