"""住户: residents reporting through a QR code (扫码报修), following their order and scoring it."""
