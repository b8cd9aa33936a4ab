"""System tests: real ``uvicorn`` gateway processes on a throwaway PostgreSQL database.

They drive the gateway over loopback HTTP as tills and apps would, race two processes on one
database (the bank test) and kill one mid-load (the crash test). PostgreSQL only: without
``ATRIUM_TEST_POSTGRES_URL`` they skip locally and fail under CI, like the storage tests.
"""
