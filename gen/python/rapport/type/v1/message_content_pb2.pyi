from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class MessageContent(_message.Message):
    __slots__ = ("subject", "text_body", "html_body")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    TEXT_BODY_FIELD_NUMBER: _ClassVar[int]
    HTML_BODY_FIELD_NUMBER: _ClassVar[int]
    subject: str
    text_body: str
    html_body: str
    def __init__(self, subject: _Optional[str] = ..., text_body: _Optional[str] = ..., html_body: _Optional[str] = ...) -> None: ...
