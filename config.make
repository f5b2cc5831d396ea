# Sourced by nginx's configure after objs/Makefile is written: compile this addon's C++
# objects as C++17 (nginx hands every source the same $(CC) $(CFLAGS)).
for wxauth_dir in src core; do
    cat << END >> $NGX_MAKEFILE

$NGX_OBJS/addon/$wxauth_dir/%.o: CFLAGS += -std=c++17

END
done
