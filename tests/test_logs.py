import io
import logging

from arb.logs import RedactingFormatter, setup_logging


def test_secrets_are_blanked_in_messages_and_tracebacks():
    token = "123456:AAE-secret-token"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter([token, "hush-hush", ""]))
    log = logging.getLogger("test.redaction")
    log.addHandler(handler)
    try:
        log.warning("HTTP Request: POST https://api.telegram.org/bot%s/getMe", token)
        try:
            raise ValueError(f"The token `{token}` was rejected by the server.")
        except ValueError:
            log.exception("start failed, key hush-hush")
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert token not in text and "hush-hush" not in text
    assert text.count("[redacted]") == 3  # the URL, the key, the exception message
    assert "bot[redacted]/getMe" in text


def test_setup_logging_quiets_request_loggers_and_formats_every_handler():
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging("DEBUG", ["abcdef-secret"])
        assert logging.getLogger("httpx").level == logging.WARNING
        assert all(isinstance(h.formatter, RedactingFormatter) for h in root.handlers)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
