-- What every test of this suite shares, made once in the test database: regress.try(sql) runs
-- a statement and returns 'ok', or the SQLSTATE and message of its error (as the role running
-- it, so that tests can show what a role may not do).
CREATE SCHEMA regress;
CREATE FUNCTION regress.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN others THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
GRANT USAGE ON SCHEMA regress TO PUBLIC;
GRANT EXECUTE ON FUNCTION regress.try(text) TO PUBLIC;
