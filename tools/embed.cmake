# Turns a text file into a C header holding it as one string:
#   cmake -DIN=file.sql -DOUT=file.h -DNAME=ts_pg_schema_sql -P embed.cmake
file(READ "${IN}" text HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${text}")
file(WRITE "${OUT}" "/* Generated from ${IN} by tools/embed.cmake. */\n"
     "static const char ${NAME}[] = {${bytes}0x00};\n")
