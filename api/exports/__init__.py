"""Exports of lists and reports as CSV and XLSX files (`api.exports.spreadsheet`)."""
