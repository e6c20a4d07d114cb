/**
 * What a schema, table or column name in a DatasetState may be. Every store writes these names into SQL text
 * (quoted on SQLite and PostgreSQL, bare on IRIS, which matches names case-insensitively only when they are not
 * delimited; lower-case column names are bare on PostgreSQL too), so a name must be safe in all of them: a plain
 * identifier, and not a reserved word (IRIS, like the standard, rejects those as bare names: a column called
 * `position` or `value` would break every statement there).
 */

/** Letters, digits and underscores, not starting with a digit, at most 63 characters (PostgreSQL's limit). */
export const IDENTIFIER = '^[A-Za-z_][A-Za-z0-9_]{0,62}$';

const IDENTIFIER_RE = new RegExp(IDENTIFIER);

/**
 * SQL-92's reserved words (ISO/IEC 9075:1992, 5.2), which IRIS SQL reserves too, and the words PostgreSQL
 * reserves beyond them (its documentation's appendix C, "reserved" in the PostgreSQL column).
 */
export const SQL_RESERVED: ReadonlySet<string> = new Set(
  (
    'ABSOLUTE ACTION ADD ALL ALLOCATE ALTER AND ANY ARE AS ASC ASSERTION AT AUTHORIZATION AVG BEGIN BETWEEN BIT ' +
    'BIT_LENGTH BOTH BY CASCADE CASCADED CASE CAST CATALOG CHAR CHARACTER CHAR_LENGTH CHARACTER_LENGTH CHECK CLOSE ' +
    'COALESCE COLLATE COLLATION COLUMN COMMIT CONNECT CONNECTION CONSTRAINT CONSTRAINTS CONTINUE CONVERT ' +
    'CORRESPONDING COUNT CREATE CROSS CURRENT CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER CURSOR DATE ' +
    'DAY DEALLOCATE DEC DECIMAL DECLARE DEFAULT DEFERRABLE DEFERRED DELETE DESC DESCRIBE DESCRIPTOR DIAGNOSTICS ' +
    'DISCONNECT DISTINCT DOMAIN DOUBLE DROP ELSE END ESCAPE EXCEPT EXCEPTION EXEC EXECUTE EXISTS EXTERNAL EXTRACT ' +
    'FALSE FETCH FIRST FLOAT FOR FOREIGN FOUND FROM FULL GET GLOBAL GO GOTO GRANT GROUP HAVING HOUR IDENTITY ' +
    'IMMEDIATE IN INDICATOR INITIALLY INNER INPUT INSENSITIVE INSERT INT INTEGER INTERSECT INTERVAL INTO IS ' +
    'ISOLATION JOIN KEY LANGUAGE LAST LEADING LEFT LEVEL LIKE LOCAL LOWER MATCH MAX MIN MINUTE MODULE MONTH NAMES ' +
    'NATIONAL NATURAL NCHAR NEXT NO NOT NULL NULLIF NUMERIC OCTET_LENGTH OF ON ONLY OPEN OPTION OR ORDER OUTER ' +
    'OUTPUT OVERLAPS PAD PARTIAL POSITION PRECISION PREPARE PRESERVE PRIMARY PRIOR PRIVILEGES PROCEDURE PUBLIC READ ' +
    'REAL REFERENCES RELATIVE RESTRICT REVOKE RIGHT ROLLBACK ROWS SCHEMA SCROLL SECOND SECTION SELECT SESSION ' +
    'SESSION_USER SET SIZE SMALLINT SOME SPACE SQL SQLCODE SQLERROR SQLSTATE SUBSTRING SUM SYSTEM_USER TABLE ' +
    'TEMPORARY THEN TIME TIMESTAMP TIMEZONE_HOUR TIMEZONE_MINUTE TO TRAILING TRANSACTION TRANSLATE TRANSLATION TRIM ' +
    'TRUE UNION UNIQUE UNKNOWN UPDATE UPPER USAGE USER USING VALUE VALUES VARCHAR VARYING VIEW WHEN WHENEVER WHERE ' +
    'WITH WORK WRITE YEAR ZONE ' +
    'ANALYSE ANALYZE ARRAY ASYMMETRIC CONCURRENTLY CURRENT_CATALOG CURRENT_ROLE CURRENT_SCHEMA DO FREEZE ILIKE ' +
    'ISNULL LATERAL LIMIT LOCALTIME LOCALTIMESTAMP NOTNULL OFFSET PLACING RETURNING SIMILAR SYMMETRIC TABLESAMPLE ' +
    'VARIADIC VERBOSE WINDOW'
  ).split(' '),
);

/** Why `name` cannot be used as a schema, table or column name, or null when it can. */
export function identifierProblem(name: string): string | null {
  if (!IDENTIFIER_RE.test(name))
    return `must be an SQL identifier: letters, digits and _, not starting with a digit, at most 63 characters (got ${JSON.stringify(name)})`;
  if (SQL_RESERVED.has(name.toUpperCase()))
    return `${JSON.stringify(name)} is an SQL reserved word (it cannot be a bare name in IRIS or PostgreSQL SQL); choose another name`;
  return null;
}
