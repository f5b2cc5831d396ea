#include "redis_reply.h"

#include <hiredis/hiredis.h>

namespace wxauth {

namespace {

constexpr int max_depth = 8;

ReplyView inspect(const redisReply *reply, int depth);

}  // namespace

ReplyView inspect_reply(const redisReply *reply)
{
    return inspect(reply, 0);
}

namespace {

ReplyView inspect(const redisReply *reply, int depth)
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
    case REDIS_REPLY_ARRAY:
        view.outcome = ReplyOutcome::error;
        view.text = "unexpected reply type " + std::to_string(reply->type);
        view.array = true;
        if (depth < max_depth && reply->element != nullptr) {
            view.elements.reserve(reply->elements);
            for (size_t i = 0; i < reply->elements; i++) {
                view.elements.push_back(inspect(reply->element[i], depth + 1));
            }
        }
        break;
    default:
        view.outcome = ReplyOutcome::error;
        view.text = "unexpected reply type " + std::to_string(reply->type);
        break;
    }
    return view;
}

}  // namespace

}  // namespace wxauth
