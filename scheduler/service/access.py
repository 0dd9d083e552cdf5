"""Who may call: tenants' and admins' tokens, and each running job's own credential."""

from __future__ import annotations

import secrets
from dataclasses import replace

from scheduler.domain import JobRecord
from scheduler.domain.errors import NotFound
from scheduler.service import jobtoken
from scheduler.service import tokens as tok
from scheduler.service.base import ServiceBase
from scheduler.store import TokenInfo


class Access(ServiceBase):
    """Tokens: who may call; and the credential each running job gets."""

    def _job_token_secret(self) -> bytes:
        """The key job credentials are signed with, made on first start and kept in the database
        (which no job can reach), so that every replica and every restart shares it."""
        with self.store.exclusive(2424240003):
            kept = self.store.get_meta("job_token_secret")
            if kept is None:
                kept = secrets.token_hex(32)
                self.store.set_meta("job_token_secret", kept)
        return bytes.fromhex(kept)

    def _bootstrap_admin_token(self) -> None:
        """No AICC_ADMIN_TOKEN and no admin token yet: make one, write it 0600, keep it to print."""
        if self._admin_digest is not None or any(t.tenant is None for t in self._tokens.values()):
            return
        token_id, token = tok.new_token()
        info = TokenInfo(token_id, None, "bootstrap-admin", tok.digest(token), self.clock.now(),
                         "bootstrap", None)
        path = self.settings.resolved_admin_token_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        import os

        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, (token + "\n").encode())
        finally:
            os.close(fd)
        self.store.add_token(info)
        self._tokens[info.id] = info
        self.generated_admin_token = token

    def authenticate(self, token: str) -> tok.Principal | None:
        digest = tok.digest(token)
        token_id = tok.token_id_of(token)
        info = self._tokens.get(token_id) if token_id is not None else None
        if info is None and token_id is not None and self.elector is not None and self.role != "leader":
            # a follower: the token may have been issued by the leader since the last reload
            info = self.store.token(token_id)
            if info is not None:
                self._tokens[token_id] = info
        if info is not None and info.revoked_at is None and tok.same(digest, info.sha256):
            if info.tenant is None:
                return tok.Principal("admin", None, info.id)
            return tok.Principal(f"tenant:{info.tenant}", info.tenant, info.id)
        if self._admin_digest is not None and tok.same(digest, self._admin_digest):
            return tok.Principal("admin", None, None)
        return None

    def issue_token(self, actor: str, tenant: str | None, name: str) -> tuple[TokenInfo, str]:
        with self._locked():
            if tenant is not None and tenant not in self.engine.tenants:
                raise NotFound("tenant-not-found", f"tenant {tenant!r} not found")
            token_id, token = tok.new_token()
            info = TokenInfo(token_id, tenant, name, tok.digest(token), self.clock.now(), actor, None)
            self.store.add_token(info)
            self._tokens[token_id] = info
            self.store.audit(actor, "token.issue", tenant or "admin", {"token_id": token_id, "name": name})
        return info, token

    def list_tokens(self, tenant: str | None = None) -> list[TokenInfo]:
        return self.store.tokens(tenant)

    def revoke_token(self, actor: str, token_id: str, tenant: str | None = None) -> TokenInfo:
        with self._locked():
            info = self._tokens.get(token_id)
            if info is None or (tenant is not None and info.tenant != tenant):
                raise NotFound("token-not-found", f"token {token_id!r} not found")
            if info.revoked_at is None:
                self.store.revoke_token(token_id)
                info = replace(info, revoked_at=self.clock.now())
                self._tokens[token_id] = info
                self.store.audit(actor, "token.revoke", info.tenant or "admin", {"token_id": token_id})
            return info

    def job_env(self, job: JobRecord) -> dict[str, str]:
        """What a starting job's environment gets to report its checkpoints."""
        stamp = job.admitted_at if job.admitted_at is not None else job.submitted_at
        env = {"AICC_JOB_TOKEN": jobtoken.mint(self._job_secret, job.id, stamp)}
        host = self.settings.host if self.settings.host not in ("0.0.0.0", "::") else "127.0.0.1"
        env["AICC_URL"] = self.settings.advertise_url or f"http://{host}:{self.settings.port}"
        return env

    def job_of_credential(self, token: str) -> str | None:
        """The job a job credential is for, if it is good and its attempt still runs."""
        found = jobtoken.read(self._job_secret, token)
        if found is None:
            return None
        job = self.engine.jobs.get(found[0])
        if job is None or not job.state.holds_devices or not jobtoken.same_attempt(job.admitted_at, found[1]):
            return None
        return job.id
