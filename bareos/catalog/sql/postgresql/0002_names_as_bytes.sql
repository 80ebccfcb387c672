-- bareos-twisted catalog for PostgreSQL, schema step 0002: path and file names as bytes.
--
-- A file name is any byte string without NUL; it need not be UTF-8 (b'caf\xe9' written
-- by a Latin-1 system).  Bareos keeps names as bytes (it wants an SQL_ASCII database);
-- a text column of a UTF8 database refuses such names, so Path.Path and File.Name are
-- bytea now, compared byte by byte, in a database of any encoding.  The catalog code
-- binds bytes for them, sends them to COPY in bytea's hex form and decodes what it
-- reads (bareos.catalog.api.name_bytes / name_text).
--
-- convert_to(..., 'UTF8') keeps the UTF-8 bytes of the text already stored (the
-- catalog always wrote UTF-8).  Names of files that were not UTF-8 and were stored
-- before this step keep the spelling the old code gave them (backslash escapes such
-- as "caf\xe9"): their bytes cannot be told apart from a real backslash.

ALTER TABLE Path ALTER COLUMN Path TYPE bytea USING convert_to(Path, 'UTF8');
ALTER TABLE File ALTER COLUMN Name TYPE bytea USING convert_to(Name, 'UTF8');
