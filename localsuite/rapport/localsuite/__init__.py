"""The local suite: all five services as processes on 127.0.0.1, a mail sink, stand-ins
for the SMS, push and webhook providers, a demo.

`make run` starts it (python -m rapport.localsuite); `make demo` plays the seed scenario
against it (python -m rapport.localsuite.demo). The end-to-end test drives the same code.
"""

from rapport.localsuite.mail_sink import MailSink
from rapport.localsuite.provider_sinks import ProviderSinks
from rapport.localsuite.suite import DEFAULT_PORTS, SERVICES, Suite, SuiteLayout

__all__ = ["DEFAULT_PORTS", "SERVICES", "MailSink", "ProviderSinks", "Suite", "SuiteLayout"]
