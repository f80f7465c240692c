/*
 * Retainful self-hosted: the cart tracking script the Retainful WooCommerce plugin loads on the shop's pages
 * (its filter rnoc_get_abandoned_cart_tracking_js_engine_url points here). The plugin prints the shopper's cart,
 * sealed with the store's Secret Key, in the hidden #retainful-abandoned-cart-data element (or localizes it as
 * retainful_cart_data.cart) and refreshes it with WooCommerce's cart fragments. This script posts {"data": <sealed>}
 * to retainful_cart_data.api_url whenever the cart's hash changes: on load, on WooCommerce's cart events (jQuery),
 * when the tab is hidden, and every few seconds. The app id travels as App-Id: servers drop the underscore app_id.
 * It sends only what the plugin's own engine sends (the sealed cart, and the token, IP and version the plugin put on
 * the page, and the time-zone offset); no cookies.
 */
(function () {
    "use strict";
    if (window.retainfulSelfHosted) {
        return; // loaded twice (a theme and the plugin): one tracker is enough
    }
    var CART_EVENTS = "added_to_cart removed_from_cart updated_cart_totals updated_shipping_method applied_coupon " +
        "removed_coupon updated_checkout wc_fragments_refreshed wc_fragments_loaded";
    var BLOCK_EVENTS = ["wc-blocks_added_to_cart", "wc-blocks_removed_from_cart"]; // native events of the cart block
    var INTERVAL_MS = 5000;
    var KEEPALIVE_LIMIT = 60000; // Chromium allows 64 KiB of keepalive bodies in flight
    var sentHash = null;
    var scheduled = false;

    function settings() {
        var data = window.retainful_cart_data;
        return data && typeof data === "object" ? data : {};
    }

    function sealedCart(config) {
        var element = document.getElementById(config.tracking_element_selector || "retainful-abandoned-cart-data");
        var cart = config.cart;
        if (element && element.textContent.trim() !== "") {
            try {
                cart = JSON.parse(element.textContent);
            } catch (error) {
                return null;
            }
        }
        return cart && typeof cart === "object" && typeof cart.data === "string" && cart.data !== "" ? cart : null;
    }

    function headers(config, cart) {
        var values = {
            "Content-Type": "application/json",
            "App-Id": config.public_key,
            "X-Client-Referrer-IP": config.ip,
            "X-Retainful-Version": config.version,
            "X-Cart-Token": cart.cart_token,
            "Cart-Token": cart.cart_token,
            "User-TimeZone": String(new Date().getTimezoneOffset())
        };
        var sent = {};
        Object.keys(values).forEach(function (name) {
            var value = values[name] === undefined || values[name] === null ? "" : String(values[name]);
            if (value !== "" && /^[\x20-\x7e]*$/.test(value)) { // header values must be printable ASCII
                sent[name] = value;
            }
        });
        return sent;
    }

    function sync() {
        scheduled = false;
        var config = settings();
        var cart = sealedCart(config);
        if (!cart || !config.api_url || !config.public_key ||
            (config.cart_tracking_engine && config.cart_tracking_engine !== "js")) {
            return;
        }
        var hash = typeof cart.cart_hash === "string" && cart.cart_hash !== "" ? cart.cart_hash : cart.data;
        if (hash === sentHash) {
            return;
        }
        sentHash = hash;
        var retry = function () {
            if (sentHash === hash) {
                sentHash = null; // a later event tries again
            }
        };
        var body = JSON.stringify({data: cart.data});
        window.fetch(config.api_url, {
            method: "POST", mode: "cors", credentials: "omit",
            keepalive: body.length < KEEPALIVE_LIMIT, // outlives a page being left, but browsers refuse big bodies
            headers: headers(config, cart), body: body
        }).then(function (response) {
            if (response.status === 429 || response.status >= 500) {
                retry(); // busy or down: the same cart is worth sending again; a 4xx would only be refused again
            }
        }, retry);
    }

    function schedule() {
        if (!scheduled) {
            scheduled = true; // one post for a burst of events (fragments refresh right after added_to_cart)
            window.setTimeout(sync, 0);
        }
    }

    var jQueryBound = false;

    function bindJQuery() { // WooCommerce triggers its cart events on document.body; they bubble to document
        if (window.jQuery && !jQueryBound) {
            jQueryBound = true;
            window.jQuery(document).on(CART_EVENTS, schedule);
        }
    }

    window.retainfulSelfHosted = {sync: schedule};
    bindJQuery();
    document.addEventListener("DOMContentLoaded", bindJQuery); // jQuery may come after us, in the footer
    BLOCK_EVENTS.forEach(function (name) {
        document.addEventListener(name, schedule);
    });
    document.addEventListener("visibilitychange", schedule);
    window.addEventListener("pagehide", sync);
    window.setInterval(schedule, INTERVAL_MS);
    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", schedule);
    } else {
        schedule();
    }
}());
