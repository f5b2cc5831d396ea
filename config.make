# Sourced by nginx's configure after it wrote objs/Makefile: nginx compiles every source with
# the same $(CC) $(CFLAGS), so give -std=c++17 to exactly this module's objects, one
# target-specific rule per object. (Not a pattern: every addon's src/foo.c lands in
# $NGX_OBJS/addon/src/, and gcc refuses -std=c++17 on C.) Object names as in nginx's auto/make:
# $NGX_OBJS/addon/<name of the source's directory>/<source name>.o

for wxauth_src in $WXAUTH_SRCS; do
    wxauth_dir=${wxauth_src%/*}
    wxauth_obj=addon/${wxauth_dir##*/}/${wxauth_src##*/}
    echo "$NGX_OBJS/${wxauth_obj%.cpp}.$ngx_objext: CFLAGS += -std=c++17" >> $NGX_MAKEFILE
done
