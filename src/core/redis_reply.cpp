#include "redis_reply.h"

#include <hiredis/hiredis.h>

namespace wxauth {

ReplyView inspect_reply(const redisReply *reply)
{
    ReplyView view;
    if (reply == nullptr) {
        view.outcome = ReplyOutcome::error;
        view.text = "no reply";
        return view;
    }
    switch (reply->type) {
    case REDIS_REPLY_STRING:
        view.outcome = ReplyOutcome::value;
        view.text.assign(reply->str ? reply->str : "", reply->str ? reply->len : 0);
        break;
    case REDIS_REPLY_STATUS:
        view.text.assign(reply->str ? reply->str : "", reply->str ? reply->len : 0);
        view.outcome = view.text == "OK" ? ReplyOutcome::ok : ReplyOutcome::value;
        break;
    case REDIS_REPLY_NIL:
        view.outcome = ReplyOutcome::nil;
        break;
    case REDIS_REPLY_INTEGER:
        view.outcome = ReplyOutcome::integer;
        view.integer = reply->integer;
        break;
    case REDIS_REPLY_ERROR:
        view.outcome = ReplyOutcome::error;
        view.text.assign(reply->str ? reply->str : "", reply->str ? reply->len : 0);
        if (view.text.empty()) {
            view.text = "error reply";
        }
        break;
    default:
        view.outcome = ReplyOutcome::error;
        view.text = "unexpected reply type " + std::to_string(reply->type);
        break;
    }
    return view;
}

}  // namespace wxauth
